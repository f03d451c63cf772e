"""Alert rules, their evaluation and notifications.

Rules come from one YAML file (:mod:`alerts.rules`), are evaluated by a pure state machine
(:mod:`alerts.state`) on observations read from the windows (:mod:`alerts.evaluator`), by one
worker at a time (:mod:`alerts.runner`); states are kept in Redis in one format
(:mod:`alerts.store`) and rendered for Prometheus (:mod:`alerts.render`). It imports only
``windows``; it reaches Kafka only through the :data:`alerts.notify.Publisher` it is given.
"""
