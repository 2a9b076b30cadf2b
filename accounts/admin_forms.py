"""Admin forms shared by every app's operator admin."""

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError


class ServiceRulesForm(forms.ModelForm):
    """An admin form that refuses what the model's service refuses (config/rules.py):
    ``validate_rules(instance)`` is the service's own check, run on the instance the form
    built, so an operator cannot store what the API would not."""

    def validate_rules(self, instance) -> None:
        pass

    def _post_clean(self):
        super()._post_clean()  # builds self.instance from the form, as ModelForm does
        if self._errors:
            return  # the rules read whole values; the field errors come first
        try:
            self.validate_rules(self.instance)
        except ValidationError as violation:
            self._add_rule_errors(violation)

    def _add_rule_errors(self, violation: ValidationError) -> None:
        for field, messages in violation.message_dict.items():
            if field in self.fields or field == NON_FIELD_ERRORS:
                self.add_error(None if field == NON_FIELD_ERRORS else field, messages)
            else:  # a field this form does not show (an inline's hidden settings)
                self.add_error(None, [f"{field}: {message}" for message in messages])


class SameOrganizationForm(ServiceRulesForm):
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
