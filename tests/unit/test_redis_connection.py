import pytest

from shared.redis_connection import group_of


@pytest.mark.parametrize(
    ("command", "target"),
    [
        (
            ("XREADGROUP", "GROUP", "g", "c", "COUNT", 8, "BLOCK", 2000, "STREAMS", "s", ">"),
            ("s", "g"),
        ),
        ((b"XREADGROUP", b"GROUP", b"g", b"c", b"STREAMS", b"s", b">"), ("s", "g")),
        (("XAUTOCLAIM", "s", "g", "c", 30000, "0-0"), ("s", "g")),
        (("XACK", "s", "g", "1-0"), ("s", "g")),
        (("XADD", "s", "*", "k", "v"), None),
        (("CLIENT", "SETINFO", "LIB-NAME", "x"), None),
        ((), None),
    ],
)
def test_the_group_a_command_reads_is_found_in_its_arguments(
    command: tuple[object, ...], target: tuple[str, str] | None
) -> None:
    assert group_of(command) == target
