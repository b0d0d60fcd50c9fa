"""ticketflow-crm: an example plugin connecting ticketflow to a CRM over HTTP.

See :mod:`ticketflow_crm.plugin` for the hooks and their configuration.
"""

from ticketflow_crm.client import CrmClient, CrmError, CrmRejectedError, CrmTimeout
from ticketflow_crm.plugin import CrmNotConfiguredError, CrmPlugin, from_environment

__version__ = "0.1.0"

__all__ = [
    "CrmClient",
    "CrmError",
    "CrmNotConfiguredError",
    "CrmPlugin",
    "CrmRejectedError",
    "CrmTimeout",
    "__version__",
    "from_environment",
]
