"""In-memory fakes of the ports (``Fake*``), for unit and functional tests; no network, no mocks."""
