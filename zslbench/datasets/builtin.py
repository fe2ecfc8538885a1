"""The shipped datasets. Their class lists are class_lists/<name>.txt (sources in class_lists/SOURCES.md);
each is indexed by the `zslbench data index` layout of the same name (zslbench/video/layouts.py), and
protocols/published/*.yaml names them as here, so no `published_name` is needed.
"""

from __future__ import annotations

from zslbench.datasets import register_dataset

register_dataset(
    "ucf101",
    class_list="ucf101.txt",
    layout="ucf101",
    summary="UCF101: 101 actions from YouTube (Soomro et al. 2012)",
)
register_dataset(
    "hmdb51",
    class_list="hmdb51.txt",
    layout="hmdb51",
    summary="HMDB51: 51 actions from films and web videos (Kuehne et al. 2011)",
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
