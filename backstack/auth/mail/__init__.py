"""Auth mails, in two parts: what is sent (templates.py renders a `Mail`; outbox.py makes the one-time
tokens a mail carries and records that it went out) and how it is delivered (delivery.py: SMTP or
the dev inbox, whose rows store/inbox.py reads for `backstack mail`)."""

from backstack.auth.mail.delivery import InboxMailer, Mailer, MailError, SmtpMailer, build_mailer
from backstack.auth.mail.templates import Mail, Templates, render_template
from backstack.auth.store.inbox import InboxEntry, read_inbox

__all__ = [
    "InboxEntry",
    "InboxMailer",
    "Mail",
    "MailError",
    "Mailer",
    "SmtpMailer",
    "Templates",
    "build_mailer",
    "read_inbox",
    "render_template",
]
