"""bazel_skylib STAND-IN: the parts of selects.bzl real rules_rust 0.x uses."""

def _with_or_dict(input_dict):
    output_dict = {}
    for (key, value) in input_dict.items():
        if type(key) == type(()):
            for config_setting in key:
                if config_setting in output_dict.keys():
                    fail("key %s appears multiple times" % config_setting)
                output_dict[config_setting] = value
        else:
            if key in output_dict.keys():
                fail("key %s appears multiple times" % key)
            output_dict[key] = value
    return output_dict

def _with_or(input_dict, no_match_error = ""):
    return select(_with_or_dict(input_dict), no_match_error = no_match_error)

def _config_setting_group(name, match_any = [], match_all = [], visibility = None):
    """Matches if any (or all) of the given config_settings match, via chained aliases."""
    if (match_any and match_all) or (not match_any and not match_all):
        fail("config_setting_group: give exactly one of match_any and match_all")
    if match_any:
        native.alias(
            name = name,
            actual = select(
                dict([(setting, "@bazel_skylib//lib:always_true") for setting in match_any] +
                     [("//conditions:default", "@bazel_skylib//lib:always_false")]),
            ),
            visibility = visibility,
        )
        return
    _all(name, match_all, visibility)

def _all(name, settings, visibility):
    if len(settings) == 1:
        native.alias(name = name, actual = settings[0], visibility = visibility)
        return
    rest = name + "_rest"
    _all_chain(rest, settings[1:])
    native.alias(
        name = name,
        actual = select({
            settings[0]: ":" + rest,
            "//conditions:default": "@bazel_skylib//lib:always_false",
        }),
        visibility = visibility,
    )

def _all_chain(name, settings):
    # Bazel 4.2.3 has no recursion: unroll over the remaining settings.
    names = [name + "_" + str(i) for i in range(len(settings))]
    for i in range(len(settings)):
        if i == len(settings) - 1:
            native.alias(name = names[i], actual = settings[i])
        else:
            native.alias(
                name = names[i],
                actual = select({
                    settings[i]: ":" + names[i + 1],
                    "//conditions:default": "@bazel_skylib//lib:always_false",
                }),
            )
    native.alias(name = name, actual = ":" + names[0])

selects = struct(
    with_or = _with_or,
    with_or_dict = _with_or_dict,
    config_setting_group = _config_setting_group,
)
