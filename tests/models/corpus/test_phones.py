import numpy as np

from models.corpus.phones import VISEMES, PhoneSegment, frame_visemes


def test_frame_visemes_label_each_frame_by_the_phone_under_its_centre() -> None:
    phones = [PhoneSegment("P", 0.0, 0.05), PhoneSegment("AA", 0.05, 0.2), PhoneSegment("M", 0.29, 0.33)]
    labels = frame_visemes(phones, 10, 25.0)  # frame centres 0.02, 0.06, ..., 0.38 s
    expected = ["PP", "aa", "aa", "aa", "aa", "sil", "sil", "PP", "sil", "sil"]
    assert labels.dtype == np.uint8 and labels.shape == (10,)
    assert [VISEMES[i] for i in labels] == expected


def test_frame_visemes_ignore_phones_past_the_end_and_let_later_phones_win() -> None:
    phones = [PhoneSegment("IY", 0.0, 0.1), PhoneSegment("S", 0.05, 0.1), PhoneSegment("OW", 0.5, 0.9)]
    labels = frame_visemes(phones, 3, 25.0)
    assert [VISEMES[i] for i in labels] == ["ih", "SS", "sil"]  # the centre 0.10 s ends both spans
    assert not frame_visemes([], 4, 25.0).any()
