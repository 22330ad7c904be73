"""The Gradio page: Upload, Microphone, Model and Status tabs.

Thin on purpose: handlers call the service (``whisper_ui.runtime.service``) and turn its ``WhisperUIError``
into ``gr.Error``. One module per tab (``upload``, ``microphone``, ``model``, ``status``), the jobs
they run (``jobs``), their inputs (``inputs``), how results read (``format``), and ``app``, which puts
them together. Every listener that uses the model shares one queue (``MODEL_QUEUE``, one at a time);
the status refresh does not touch the model and runs outside that queue, only while its tab is open.
"""

from .app import MCP_ENDPOINT, MODEL_QUEUE, build_app, launch_kwargs, mcp_tools_only, share_model_queue

__all__ = ["build_app", "launch_kwargs", "mcp_tools_only", "share_model_queue", "MCP_ENDPOINT", "MODEL_QUEUE"]
