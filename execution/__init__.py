"""The order lifecycle, in one place: submitting the orders the pipeline planned, recording
the broker's answers, approvals, cancels, status sync and reconciliation. It is the only
code that reaches a broker (brokers.adapters) outside the tests; ``brokers`` below it keeps
the models, the adapter interface and the adapters, and ``signals`` above it plans and
hands over (docs/architecture.md, "Order execution")."""
