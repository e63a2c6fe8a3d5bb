from typing import ClassVar

from shared.settings import ServiceSettings


class PolicySettings(ServiceSettings):
    service_name: ClassVar[str] = "policy"
