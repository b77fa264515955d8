from django import forms

from workspaces.models import API_KEY_ROLES, Role


class AddMemberForm(forms.Form):
    email = forms.EmailField(label="Email of an existing GalaxyCo user")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)


class ChangeRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        max_length=100, label="Key name", help_text="For example, the service that will use it."
    )
    role = forms.ChoiceField(
        choices=API_KEY_ROLES,
        initial=Role.MEMBER,
        required=False,
        help_text="What the key may do: a viewer key reads, a member key also builds and runs workflows, "
        "an admin key also deletes workflows and manages everyone's accounts.",
    )
