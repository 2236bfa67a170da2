"""Integrations with training frameworks, each imported only when used (`integrations.lightning`
needs the `lightning` extra); importing gpuviz_app imports none of them."""
