"""``llmreg plugins``: what is installed, what it gives, and what failed."""

from __future__ import annotations

import click

from llmreg.cli.app import emit_json, json_option


@click.command()
@json_option
def plugins(as_json: bool) -> None:
    """List plugins with their distribution, hooks, KINDs and providers."""
    from llmreg.cli.components import current

    report = current().manager.report()
    if as_json:
        emit_json(report)
        return
    click.echo(f"llmreg {report['llmreg']}")
    if not report["plugins"]:
        click.echo("no plugins loaded")
    for p in report["plugins"]:
        click.echo(f"{p['name']}  ({p['distribution'] or '-'} {p['version'] or ''})".rstrip())
        click.echo(f"  hooks: {', '.join(p['hooks']) or '-'}")
        for role, kinds in p["kinds"].items():
            click.echo(f"  {role} KINDs: {', '.join(kinds)}")
        if p["providers"]:
            click.echo(f"  providers: {', '.join(p['providers'])}")
        if p["commands"]:
            click.echo(f"  commands: {', '.join(p['commands'])}")
        if p["defaults"]:
            click.echo(f"  defaults: {', '.join(p['defaults'])}")
    for prob in report["problems"]:
        who = f"{prob['distribution'] or prob['name']} {prob['version'] or ''}".strip()
        click.echo(f"{prob['status']}: {who}: {prob['reason']}")
    for conflict in report["conflicts"]:
        click.echo(
            f"conflict: {conflict['table']} {conflict['name']!r} is provided by "
            f"{' and by '.join(conflict['by'])}; what uses it fails until one is blocked "
            "(LLMREG_DISABLE_PLUGINS)"
        )
