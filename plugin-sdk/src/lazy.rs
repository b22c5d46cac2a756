//! The shape shared by [`crate::Statement`] and [`crate::Context`]: a view of a handle
//! pgDog lends for one call, one `OnceCell` per field, and a plain struct of the same
//! fields that tests build instead. One list of fields generates both, their constructors
//! and a `Debug` that prints only what was fetched.

/// `lazy_view!(Fields / View / HostType { field: Type, … } [cache { cell: Type, … }])`,
/// with doc attributes before each struct name. `cache` cells are the view's own (not
/// fields; empty in both constructors). The view's accessors are written by hand: their
/// return shapes differ.
macro_rules! lazy_view {
    (
        $(#[$fields_doc:meta])* $fields:ident /
        $(#[$view_doc:meta])* $view:ident / $host:ty {
            $($field:ident: $ty:ty,)*
        }
        $(cache { $($cache:ident: $cache_ty:ty,)* })?
    ) => {
        $(#[$fields_doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $fields {
            $(pub $field: $ty,)*
        }

        $(#[$view_doc])*
        pub struct $view<'a> {
            /// pgDog's handle for the call; `None` when built from fields, whose every
            /// cell is filled.
            host: Option<&'a $host>,
            $($field: std::cell::OnceCell<$ty>,)*
            $($($cache: std::cell::OnceCell<$cache_ty>,)*)?
        }

        impl<'a> $view<'a> {
            /// The view of what pgDog lent the current call.
            pub(crate) fn from_host(host: &'a $host) -> Self {
                Self {
                    host: Some(host),
                    $($field: std::cell::OnceCell::new(),)*
                    $($($cache: std::cell::OnceCell::new(),)*)?
                }
            }

            /// The value in `cell`, fetched from pgDog on first use.
            fn load<'s, T>(
                &'s self,
                cell: &'s std::cell::OnceCell<T>,
                fetch: fn(&$host) -> T,
            ) -> &'s T {
                cell.get_or_init(|| match self.host {
                    Some(host) => fetch(host),
                    // Built from fields, every cell is set: reaching here is a bug.
                    None => unreachable!("a view built from fields has every field"),
                })
            }
        }

        impl From<$fields> for $view<'static> {
            fn from(f: $fields) -> Self {
                Self {
                    host: None,
                    $($field: f.$field.into(),)*
                    $($($cache: std::cell::OnceCell::new(),)*)?
                }
            }
        }

        impl std::fmt::Debug for $view<'_> {
            /// The fields fetched so far: printing must not fetch the rest.
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let mut out = f.debug_struct(stringify!($view));
                $(
                    if let Some(value) = self.$field.get() {
                        out.field(stringify!($field), value);
                    }
                )*
                out.finish_non_exhaustive()
            }
        }
    };
}

pub(crate) use lazy_view;
