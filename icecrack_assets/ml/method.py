"""The published figures of the method we reproduce (AIR-CAS / TPDC ice-crack products).

"Average accuracy 94.5 %, local accuracy of the fissure area 78.6 %, recall 89.4 %", read as overall
pixel accuracy, crack precision and crack recall (docs/model.md explains the reading). Checks,
evaluation tables and the demo compare against these, so they are written once, here.
"""

from __future__ import annotations

METHOD_PRECISION = 0.786
METHOD_RECALL = 0.894
METHOD_OA = 0.945
METHOD_F1 = 2 * METHOD_PRECISION * METHOD_RECALL / (METHOD_PRECISION + METHOD_RECALL)
METHOD = {"precision": METHOD_PRECISION, "recall": METHOD_RECALL, "f1": METHOD_F1, "oa": METHOD_OA}
