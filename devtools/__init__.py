"""Developer tooling, kept out of the product: local Kafka and Redis on loopback
(:mod:`devtools.services`), the seedable support-floor simulator (:mod:`devtools.simulate`)
and the independent batch oracle that the stream is checked against (:mod:`devtools.oracle`).

The CLI exposes them as commands; the worker never imports them.
"""
