"""IceCrack: crevasse maps from Sentinel-1 SAR, as Dagster assets.

The science lives in the Dagster-free packages :mod:`icecrack_assets.sar` and
:mod:`icecrack_assets.ml`; :mod:`icecrack_assets.dagster_defs` wires them into assets.
"""

__version__ = "0.1.0"
