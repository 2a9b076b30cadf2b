"""Admin forms shared by every app's operator admin."""

from django import forms


class SameOrganizationForm(forms.ModelForm):
    """Rejects a row whose related objects belong to another organization than the row
    itself: an operator typing a raw id must not wire one tenant's account to another
    tenant's strategy."""

    def clean(self):
        cleaned = super().clean()
        organization = cleaned.get("organization") or self._current_organization()
        if organization is None:
            return cleaned
        for name, value in list(cleaned.items()):
            owner = getattr(value, "organization_id", None)
            if name != "organization" and owner is not None and owner != organization.pk:
                self.add_error(name, "This belongs to another organization.")
        return cleaned

    def _current_organization(self):
        if getattr(self.instance, "organization_id", None) is None:
            return None
        return self.instance.organization
