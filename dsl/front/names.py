"""Names a block or op cannot have: the compiled module would break on them.

The compiler installs every block and op as an attribute of its parent module (`model.layer1.conv`),
so a name must not be a Python keyword (torch.fx writes `self.<name>` in the generated forward) nor an
attribute torch.nn.Module or torch.fx.GraphModule already has (`forward`, `training`, `float`, `graph`).
Front-end code (no torch here): the list is written out, and tests/test_names.py checks it against the
installed torch, so a torch upgrade that adds attributes fails a test instead of a user's build.
"""

from __future__ import annotations

import keyword

MODULE_ATTRIBUTES = frozenset(
    {
        "T_destination",
        "_apply",
        "_backward_hooks",
        "_backward_pre_hooks",
        "_boxed_call",
        "_buffers",
        "_call_impl",
        "_code",
        "_compiled_call_impl",
        "_create_node_hooks",
        "_deepcopy_hooks",
        "_deepcopy_init",
        "_erase_node_hooks",
        "_forward_hooks",
        "_forward_hooks_always_called",
        "_forward_hooks_with_kwargs",
        "_forward_pre_hooks",
        "_forward_pre_hooks_with_kwargs",
        "_get_backward_hooks",
        "_get_backward_pre_hooks",
        "_get_name",
        "_graph",
        "_is_full_backward_hook",
        "_lineno_map",
        "_load_from_state_dict",
        "_load_state_dict_post_hooks",
        "_load_state_dict_pre_hooks",
        "_maybe_warn_non_full_backward_hook",
        "_modules",
        "_named_members",
        "_non_persistent_buffers_set",
        "_parameters",
        "_prologue_start",
        "_recompile_submodules",
        "_register_create_node_hook",
        "_register_deepcopy_hook",
        "_register_erase_node_hook",
        "_register_load_state_dict_pre_hook",
        "_register_replace_node_hook",
        "_register_state_dict_hook",
        "_replace_hooks",
        "_replicate_for_data_parallel",
        "_save_to_state_dict",
        "_set_replace_hook",
        "_slow_forward",
        "_state_dict_hooks",
        "_state_dict_pre_hooks",
        "_tracer_cls",
        "_tracer_extras",
        "_unregister_create_node_hook",
        "_unregister_deepcopy_hook",
        "_unregister_erase_node_hook",
        "_unregister_replace_node_hook",
        "_version",
        "_wrapped_call",
        "_wrapped_call_impl",
        "add_module",
        "add_submodule",
        "apply",
        "bfloat16",
        "buffers",
        "call_super_init",
        "children",
        "code",
        "compile",
        "cpu",
        "cuda",
        "delete_all_unused_submodules",
        "delete_submodule",
        "double",
        "dump_patches",
        "eval",
        "extra_repr",
        "float",
        "forward",
        "get_buffer",
        "get_extra_state",
        "get_parameter",
        "get_submodule",
        "graph",
        "half",
        "ipu",
        "load_state_dict",
        "meta",
        "modules",
        "mtia",
        "named_buffers",
        "named_children",
        "named_modules",
        "named_parameters",
        "parameters",
        "print_readable",
        "recompile",
        "register_backward_hook",
        "register_buffer",
        "register_forward_hook",
        "register_forward_pre_hook",
        "register_full_backward_hook",
        "register_full_backward_pre_hook",
        "register_load_state_dict_post_hook",
        "register_load_state_dict_pre_hook",
        "register_module",
        "register_parameter",
        "register_state_dict_post_hook",
        "register_state_dict_pre_hook",
        "requires_grad_",
        "set_extra_state",
        "set_submodule",
        "shape_env",
        "share_memory",
        "state_dict",
        "to",
        "to_empty",
        "to_folder",
        "train",
        "training",
        "type",
        "xpu",
        "zero_grad",
        "definition",  # netc's BlockModule
        "netc_graph_name",  # set on every compiled model
    }
)


def reserved(name: str) -> str | None:
    """Why `name` cannot name a block or op in the compiled module, or None when it can."""
    if keyword.iskeyword(name):
        return f"'{name}' is a Python keyword, so the compiled module could not use it as an attribute"
    if name in MODULE_ATTRIBUTES:
        return f"the compiled torch module already has an attribute '{name}' (torch.nn.Module.{name} or fx's)"
    if len(name) > 4 and name.startswith("__") and name.endswith("__"):
        return f"names of the form __{name[2:-2]}__ are Python's own (the compiled module's {name} would be replaced)"
    if name == "self":
        return "the compiled module's forward() names the module itself 'self'"
    return None
