"""Ansible's linear strategy, accelerated by Mitogen when it is installed (the plays name it).

Mitogen keeps one Python interpreter per target and runs modules in it instead of shipping and
starting each module anew: measured on this project's no-op converge, about 3x faster (README,
"Timing to expect"). Ansible finds this shim beside the playbooks without any configuration; it
needs no site-packages path and falls back to the plain linear strategy where mitogen is missing.
FORTRESS_STRATEGY=linear selects Ansible's own linear strategy explicitly.
"""

from __future__ import annotations

import os

try:
    if os.environ.get("FORTRESS_STRATEGY", "mitogen") == "linear":
        raise ImportError("plain linear strategy requested")
    import ansible_mitogen.loaders
    import ansible_mitogen.strategy
except ImportError:  # mitogen not installed, or not wanted: Ansible's own linear strategy
    from ansible.plugins.strategy.linear import StrategyModule
else:
    _Linear = ansible_mitogen.loaders.strategy_loader.get("linear", class_only=True)

    class StrategyModule(ansible_mitogen.strategy.StrategyMixin, _Linear):  # type: ignore[misc, valid-type]
        """Mitogen's linear strategy (what its own mitogen_linear plugin defines)."""
