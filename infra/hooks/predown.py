"""`azd down` guard (azure.yaml `hooks.predown`): refuse when it would touch the ACS resource group.

`azd down` deletes every resource group the deployment put resources in, and this deployment
puts the Event Grid system topic, its subscription and a role assignment into the resource group
of the existing Azure Communication Services resource. `azd down` would therefore delete the ACS
resource and its phone numbers. This hook stops it (a non-zero exit makes azd stop) and prints
how to remove the deployment instead (infra/README.md, "Removing").

azd runs hooks with the environment's values (`.azure/<env>/.env`) as environment variables.
Without an ACS resource id the environment was never provisioned against ACS, so there is
nothing to protect. Standard library only: it runs on the operator's machine, not in Azure.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

ACS_RESOURCE_ID = "ACS_RESOURCE_ID"


def acs_resource_group(acs_resource_id: str) -> str | None:
    """`<subscription>/<resource group>` of an ACS resource id, or None if it is not one."""
    parts = acs_resource_id.strip().strip("/").split("/")
    if (
        len(parts) == 8
        and parts[0].lower() == "subscriptions"
        and parts[2].lower() == "resourcegroups"
        and parts[4].lower() == "providers"
        and parts[5].lower() == "microsoft.communication"
        and parts[6].lower() == "communicationservices"
        and all(parts)
    ):
        return f"{parts[1]}/{parts[3]}"
    return None


def check(env: Mapping[str, str]) -> tuple[int, str]:
    """(exit code, message): 0 lets `azd down` go on, 1 stops it."""
    acs_id = env.get(ACS_RESOURCE_ID, "").strip()
    if not acs_id:
        return 0, "predown: no ACS_RESOURCE_ID in this environment; nothing in an ACS group."
    group = acs_resource_group(acs_id)
    where = (
        f"resource group '{group.split('/')[1]}' (subscription {group.split('/')[0]})"
        if group
        else f"the resource group of {acs_id!r} (not a valid ACS resource id)"
    )
    return 1, (
        f"predown: refusing `azd down`. This deployment put resources into {where}, which holds "
        "the Azure Communication Services resource; `azd down` would delete that whole group, "
        "the ACS resource and its phone numbers included.\n"
        "Remove the deployment by hand instead: see infra/README.md, section 'Removing'."
    )


def main() -> int:
    code, message = check(os.environ)
    print(message, file=sys.stderr if code else sys.stdout)
    return code


if __name__ == "__main__":
    sys.exit(main())
