"""The shipped datasets. Their class lists are class_lists/<name>.txt (sources in class_lists/SOURCES.md);
each is indexed by the `zslbench data index` layout of the same name (zslbench/video/layouts.py), and
protocols/published/*.yaml names them as here, so no `published_name` is needed. UCF101, HMDB51 and
the Kinetics-600 new classes have official test splits (the `official` split kind, docs/protocol.md,
"Today's papers' protocols").
"""

from __future__ import annotations

from zslbench.datasets import OfficialSplits, register_dataset

register_dataset(
    "ucf101",
    class_list="ucf101.txt",
    layout="ucf101",
    summary="UCF101: 101 actions from YouTube (Soomro et al. 2012)",
    official_splits=OfficialSplits(3, "UCF101's three train/test lists, ucfTrainTestlist/testlist0N.txt", "ucf101"),
)
register_dataset(
    "hmdb51",
    class_list="hmdb51.txt",
    layout="hmdb51",
    summary="HMDB51: 51 actions from films and web videos (Kuehne et al. 2011)",
    official_splits=OfficialSplits(
        3, "HMDB51's three splits, testTrainMulti_7030_splits/<class>_test_splitN.txt (2 = test)", "hmdb51"
    ),
)
register_dataset(
    "kinetics400",
    class_list="kinetics400.txt",
    layout="kinetics400",
    summary="Kinetics-400: 400 human actions from YouTube (Kay et al. 2017)",
)
register_dataset(
    "kinetics600",
    class_list="kinetics600.txt",
    layout="kinetics600",
    summary="Kinetics-600: 600 human actions from YouTube (Carreira et al. 2018)",
)
register_dataset(
    "kinetics600_new",
    class_list="kinetics600_new.txt",
    layout="kinetics600_new",
    summary="Kinetics-600's 220 classes that Kinetics-400 lacks, ER-ZSAR's test set (Chen & Huang 2021)",
    official_splits=OfficialSplits(
        3,
        "ER-ZSAR's three draws of 160 of the 220 classes (Chen & Huang, ICCV 2021)",
        class_lists=tuple(f"kinetics600_new_splits/split{k}.txt" for k in (1, 2, 3)),
    ),
)
register_dataset(
    "kinetics700",
    class_list="kinetics700.txt",
    layout="kinetics700",
    summary="Kinetics-700: 700 human actions from YouTube (Carreira et al. 2019)",
)
register_dataset(
    "activitynet200",
    class_list="activitynet200.txt",
    layout="activitynet200",
    summary="ActivityNet v1.3: 200 activity classes from YouTube (Caba Heilbron et al. 2015)",
)
