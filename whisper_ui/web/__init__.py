"""The web app around the page: launching Gradio hardened with the health routes (``server``), the
connection guards (``connections``), one user's sessions and files kept from another's
(``isolation``), and the OpenAI-compatible routes and the MCP guard (``openai_api``)."""
