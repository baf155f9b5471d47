"""OpenAI's chat completions for tool use, independent of the web service.

`schema` holds the request's shape; `completion` turns a request into a pipeline task and
the task into a `chat.completion` answer. The service's `/v1/chat/completions` route and
`toolroute bench calls` both go through `completion`, so the benchmark measures exactly
what agents get.
"""
