"""CO2 accounting from energy use (emission-factor method) and intensities."""

from policylab.accounting.co2 import (
    CO2_PER_C,
    FUELS,
    carbon_per_unit,
    co2_emissions,
    factor_table,
    intensity,
)

__all__ = ["CO2_PER_C", "FUELS", "carbon_per_unit", "co2_emissions", "factor_table", "intensity"]
