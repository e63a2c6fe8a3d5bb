from services.enrollment.app import create_app
from services.enrollment.settings import EnrollmentSettings
from shared.service import run


def main() -> None:
    run(EnrollmentSettings, create_app)


if __name__ == "__main__":
    main()
