"""The request a target gets. Public: ``shaping.shape_request`` (and
``passthrough_body``), ``thinking`` (thinking metadata across providers, the
retry without thinking), ``codeassist`` (Gemini CLI's envelope), and
``responses`` (Responses API state: stored responses, previous_response_id,
conversations; its ``__init__`` is its face)."""
