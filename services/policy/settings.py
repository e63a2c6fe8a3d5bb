from typing import ClassVar

from shared.settings import PasskeyDefaults


class PolicySettings(PasskeyDefaults):
    service_name: ClassVar[str] = "policy"
