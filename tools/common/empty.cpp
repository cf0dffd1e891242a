// Keeps ndtk_tool_common non-empty before any shared tool code exists.
