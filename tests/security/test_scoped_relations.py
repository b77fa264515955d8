"""A form or serializer field that lets a request name a tenant row by its id must offer only the
requester's workspace's rows. Declared on the class, its queryset cannot know the workspace: it is
either unscoped (an id from another workspace would be accepted) or fails closed on every request.
Such fields are built per request from `.for_workspace(workspace)`; this test finds any that is not.
"""

import importlib
import pkgutil
import sysconfig
from pathlib import Path

from django import forms
from django.apps import apps
from django.conf import settings
from rest_framework import relations, serializers

from integrations.models import Integration
from workspaces.querysets import WorkspaceQuerySet

# Installed packages may live inside the checkout too (a virtualenv in it): not ours.
INSTALLED_PACKAGES = Path(sysconfig.get_paths()["purelib"]).resolve()
PROJECT_APPS = [
    config.name
    for config in apps.get_app_configs()
    if Path(config.path).resolve().is_relative_to(Path(settings.BASE_DIR).resolve())
    and not Path(config.path).resolve().is_relative_to(INSTALLED_PACKAGES)
]


def _project_classes(base: type) -> list[type]:
    for app in PROJECT_APPS:
        package = importlib.import_module(app)
        for module in pkgutil.walk_packages(package.__path__, prefix=f"{app}."):
            if ".tests" not in module.name and ".migrations" not in module.name:
                importlib.import_module(module.name)
    found, pending = [], list(base.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__.split(".")[0] in PROJECT_APPS and ".tests" not in cls.__module__:
            found.append(cls)
    return found


def _names_tenant_rows(queryset: object) -> bool:
    model = getattr(queryset, "model", None)
    return model is not None and isinstance(model._default_manager.get_queryset(), WorkspaceQuerySet)


def tenant_relations_of_serializer(cls: type[serializers.BaseSerializer]) -> list[str]:
    fields = cls().get_fields() if hasattr(cls, "get_fields") else {}
    found = []
    for name, field in fields.items():
        relation = field.child_relation if isinstance(field, relations.ManyRelatedField) else field
        writable = isinstance(relation, relations.RelatedField) and not field.read_only
        if writable and _names_tenant_rows(relation.queryset):
            found.append(f"{cls.__module__}.{cls.__qualname__}.{name}")
    return found


def tenant_relations_of_form(cls: type[forms.BaseForm]) -> list[str]:
    return [
        f"{cls.__module__}.{cls.__qualname__}.{name}"
        for name, field in cls.base_fields.items()
        if isinstance(field, forms.ModelChoiceField) and _names_tenant_rows(field.queryset)
    ]


def test_no_serializer_declares_a_field_naming_tenant_rows():
    classes = _project_classes(serializers.BaseSerializer)
    assert classes, "no serializer found: the walk is broken"
    offending = [name for cls in classes for name in tenant_relations_of_serializer(cls)]
    assert offending == [], f"build these per request from .for_workspace(workspace): {offending}"


def test_no_form_declares_a_field_naming_tenant_rows():
    classes = _project_classes(forms.BaseForm)
    assert classes, "no form found: the walk is broken"
    offending = [name for cls in classes for name in tenant_relations_of_form(cls)]
    assert offending == [], f"build these per request from .for_workspace(workspace): {offending}"


def test_a_field_declared_with_a_tenant_queryset_is_found():
    class Leaky(serializers.Serializer):
        integration = serializers.PrimaryKeyRelatedField(queryset=Integration.objects.all())
        shown: serializers.PrimaryKeyRelatedField = serializers.PrimaryKeyRelatedField(read_only=True)

    class LeakyForm(forms.Form):
        integration = forms.ModelChoiceField(queryset=Integration.objects.all())

    assert [name.rsplit(".", 1)[-1] for name in tenant_relations_of_serializer(Leaky)] == ["integration"]
    assert [name.rsplit(".", 1)[-1] for name in tenant_relations_of_form(LeakyForm)] == ["integration"]
