"""How things are shown to people, the same in the API and on the pages: the wording of
refusals and conflicts, and the QR code of an otpauth URI."""
