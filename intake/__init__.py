"""Webhook intake: vendors' HTTP deliveries → their raw Kafka topic, acknowledged only
after the broker has the payload (a vendor retries anything that is not 2xx)."""
