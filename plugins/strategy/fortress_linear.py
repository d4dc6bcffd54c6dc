"""Ansible's linear strategy, accelerated by Mitogen when it is installed (the project's default strategy).

Mitogen keeps one Python interpreter per target and runs modules in it instead of shipping and starting each
module anew: measured on this project's no-op converge, 144 s -> 32 s (README, "Timing to expect"). This shim
exists so that ansible.cfg can name one strategy that still works where mitogen is missing (plain linear) and
needs no site-packages path; `ANSIBLE_STRATEGY=linear` selects Ansible's own strategy explicitly.
"""

from __future__ import annotations

try:
    import ansible_mitogen.loaders
    import ansible_mitogen.strategy
except ImportError:  # mitogen not installed: Ansible's own linear strategy
    from ansible.plugins.strategy.linear import StrategyModule  # noqa: F401
else:
    _Linear = ansible_mitogen.loaders.strategy_loader.get("linear", class_only=True)

    class StrategyModule(ansible_mitogen.strategy.StrategyMixin, _Linear):  # type: ignore[misc, valid-type]
        """Mitogen's linear strategy (what its own mitogen_linear plugin defines)."""
