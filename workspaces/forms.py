from django import forms

from workspaces.models import Role


class AddMemberForm(forms.Form):
    email = forms.EmailField(label="Email of an existing GalaxyCo user")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)


class ChangeRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        max_length=100, label="Key name", help_text="For example, the service that will use it."
    )
