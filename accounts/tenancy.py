"""The tenancy base: every tenant-owned row carries its organization, and every read of
tenant data goes through ``for_org``. "Not yours" and "does not exist" look the same (404)."""

from django.db import models


class OrgQuerySet(models.QuerySet):
    def for_org(self, organization):
        return self.filter(organization=organization)


class OrgOwnedModel(models.Model):
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="%(class)s_set"
    )

    objects = OrgQuerySet.as_manager()

    class Meta:
        abstract = True
