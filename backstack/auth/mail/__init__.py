"""Auth mails: what is sent (templates, the one-time tokens they carry) and how it is delivered."""

from backstack.auth.mail.delivery import InboxEntry, read_inbox

__all__ = ["InboxEntry", "read_inbox"]
