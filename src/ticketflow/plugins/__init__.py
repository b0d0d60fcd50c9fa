"""Built-in plugins: ordinary pluggy plugins a host can replace, configure or leave out.

Registered by default:

* :mod:`~ticketflow.plugins.authorize` - who may claim, complete, suspend, migrate;
* :mod:`~ticketflow.plugins.sms` - an SMS gateway that only logs (replace it with an
  :class:`~ticketflow.plugins.sms.SmsNotifier` around the host's gateway).

Configured and registered by the host (``Engine(plugins=[...])``):

* :mod:`~ticketflow.plugins.dispatch` - grid (category -> department), round robin,
  least loaded, skill-based and two-level dispatch, and chains of them;
* :mod:`~ticketflow.plugins.scoring` - piece-rate points with type coefficients
  (recomputed from history), deductions, internal evaluation;
* :mod:`~ticketflow.plugins.callbacks` - callback planning by channel and tier;
* :mod:`~ticketflow.plugins.email` - an SMTP notifier.
"""
