"""Where delivered items go: the ``Sink`` interface and the queue, webhook and archive sinks, with the
claim-check blob store. Part of ``shared.ingest``, under the same import rule.
"""
