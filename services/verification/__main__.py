from services.verification.app import create_app
from services.verification.settings import VerificationSettings
from shared.service import run


def main() -> None:
    run(VerificationSettings, create_app)


if __name__ == "__main__":
    main()
