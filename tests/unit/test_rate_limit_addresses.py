import pytest

from services.gateway.stores.rate_limits import address_bucket


@pytest.mark.parametrize(
    ("host", "bucket"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("::ffff:203.0.113.7", "203.0.113.7"),  # the same client, IPv4-mapped
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),  # another address of the same site
        ("05.5.5.5", "unparsable"),
        ("garbage", "unparsable"),
        ("", "unparsable"),
    ],
)
def test_each_client_has_one_address_however_it_is_spelt(host: str, bucket: str) -> None:
    assert address_bucket(host) == bucket
