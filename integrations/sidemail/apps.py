from django.apps import AppConfig


class SidemailConfig(AppConfig):
    """The platform's own email through Sidemail: the email backend, every email as a row, webhooks."""

    name = "integrations.sidemail"
    label = "sidemail"
    verbose_name = "Sidemail"

    def ready(self) -> None:
        from integrations.sidemail import checks, signals  # noqa: F401  (registers the check and receivers)
