"""Who is calling, and what they may do: principals, API keys, bearer tokens and machines' rules."""
