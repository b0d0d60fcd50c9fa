"""Built-in plugins: ordinary pluggy plugins a host can replace, configure or leave out.

Registered by default: :mod:`~ticketflow.plugins.authorize` (who may do what) and
:mod:`~ticketflow.plugins.sms` (an SMS gateway that only logs). The others need
configuration and are registered by the host, e.g. ``Engine(plugins=[GridDispatch(...)])``.
"""
