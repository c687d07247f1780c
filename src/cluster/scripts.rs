//! The Lua scripts (`lua/`): each change to shared state is one script, so it
//! is applied whole or not at all, and two nodes racing run one after the
//! other. Every script starts with `lua/prelude.lua` (the key layout and the
//! steps several scripts share) and reads the time from Redis's own `TIME`,
//! so the nodes' clocks never matter.

use redis::Script;

macro_rules! scripts {
    ($($name:ident),* $(,)?) => {
        pub struct Scripts {
            $(pub $name: Script,)*
        }

        impl Scripts {
            pub fn new() -> Scripts {
                Scripts {
                    $($name: Script::new(concat!(
                        include_str!("lua/prelude.lua"),
                        include_str!(concat!("lua/", stringify!($name), ".lua")),
                    )),)*
                }
            }
        }
    };
}

scripts!(
    create,
    create_joined,
    attend,
    get,
    membership,
    add_attendee,
    remove_attendee,
    lapse_attendee,
    restore_attendee,
    set_fields,
    destroy,
    holds,
    reconcile,
    heartbeat,
    forget_node,
    tick,
    count,
);
