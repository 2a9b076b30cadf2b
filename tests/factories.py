import factory

from accounts.models import Membership, Organization, Role, User
from brokers.models import BrokerAccount, Instrument
from strategies.models import Strategy, Subscription


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Org {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    organization = factory.SubFactory(OrganizationFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.OWNER


class BrokerAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BrokerAccount

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Paper {n}")
    broker = BrokerAccount.Broker.PAPER
    mode = BrokerAccount.Mode.PAPER


class StrategyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Strategy

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Strategy {n}")


class SubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Subscription

    organization = factory.SelfAttribute("strategy.organization")
    strategy = factory.SubFactory(StrategyFactory)
    account = factory.SubFactory(
        BrokerAccountFactory, organization=factory.SelfAttribute("..organization")
    )


class InstrumentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Instrument
        django_get_or_create = ("symbol", "asset_class")

    symbol = factory.Sequence(lambda n: f"TST{n}")
    asset_class = "stock"
    exchange = "NASDAQ"
