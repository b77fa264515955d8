from django.apps import AppConfig


class HooksConfig(AppConfig):
    """Triggers that start workflows (webhooks in; schedules and new email later) and the
    signed notifications a workspace's endpoints receive when something happens."""

    name = "hooks"
