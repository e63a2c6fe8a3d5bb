from services.policy.app import create_app
from services.policy.settings import PolicySettings
from shared.service import run


def main() -> None:
    run(PolicySettings, create_app)


if __name__ == "__main__":
    main()
