//! [`Slot`]: a C function pointer in an atomic cell, the one way memproxy
//! keeps a function it found or chose at run time.
//!
//! A slot is a single pointer-sized atomic: reading it is one load (a plain
//! `mov` on x86_64, which the exports fold into `jmp *slot(%rip)`). It takes
//! no lock and has no thread-local state.
//! Writes are `Release` and reads `Acquire`, so whatever a writer prepared
//! before storing a function is visible to a thread that calls it.
//!
//! # Safety
//! A slot of type `F` only ever holds a value of type `F`: [`Slot::new`] and
//! [`Slot::set`] take an `F`, and [`Slot::get`] turns the bits back into the
//! same type. `F` is limited to `unsafe extern "C" fn` pointers and `Option`s
//! of them ([`Pointer`]), which are exactly pointer-sized and for which null
//! means `None`.
//!
//! [`function`] makes such a pointer from an address found in a symbol table.
//! That is safe in Rust's terms (a function pointer need only be non-null, and
//! calling an `unsafe extern "C" fn` needs `unsafe`), but it moves the real
//! obligation to the call: whoever calls it must know the address is a
//! function of that C signature. memproxy looks up only the names its table
//! ([`crate::functions`]) pairs with a signature.

use core::marker::PhantomData;
use core::sync::atomic::{AtomicPtr, Ordering};

mod sealed {
    pub trait Sealed {}
}

/// An `unsafe extern "C" fn` pointer of up to three arguments.
pub trait Function: Copy + sealed::Sealed {}

/// What a [`Slot`] can hold: a [`Function`], or an `Option` of one.
pub trait Pointer: Copy + sealed::Sealed {}

macro_rules! functions_of_arity {
    ($($argument:ident),*) => {
        impl<R, $($argument),*> sealed::Sealed for unsafe extern "C" fn($($argument),*) -> R {}
        impl<R, $($argument),*> Function for unsafe extern "C" fn($($argument),*) -> R {}
        impl<R, $($argument),*> Pointer for unsafe extern "C" fn($($argument),*) -> R {}
    };
}

functions_of_arity!();
functions_of_arity!(A);
functions_of_arity!(A, B);
functions_of_arity!(A, B, C);

impl<F: Function> sealed::Sealed for Option<F> {}
impl<F: Function> Pointer for Option<F> {}

/// A function pointer of type `F`, shared between threads.
pub struct Slot<F: Pointer> {
    raw: AtomicPtr<()>,
    held: PhantomData<F>,
}

impl<F: Pointer> Slot<F> {
    pub const fn new(value: F) -> Self {
        Slot {
            raw: AtomicPtr::new(into_raw(value)),
            held: PhantomData,
        }
    }

    #[inline(always)]
    pub fn get(&self) -> F {
        from_raw(self.raw.load(Ordering::Acquire))
    }

    pub fn set(&self, value: F) {
        self.raw.store(into_raw(value), Ordering::Release);
    }
}

/// The function at `address`, as a pointer of C signature `F`; `None` for 0.
/// See the module docs for what the caller of the result must know.
pub fn function<F: Function>(address: usize) -> Option<F> {
    from_raw::<Option<F>>(address as *mut ())
}

/// `function` as a pointer of another C signature `G`.
///
/// # Safety
/// Every call through the result must be one `function` accepts. memproxy
/// uses it only to put `free` in the slots of the sized `operator delete`s,
/// which only their exports' jumps call, with the caller's arguments
/// untouched: `free` reads the block from the first argument register (rdi
/// on x86_64, x0 on aarch64) or stack slot (i686 cdecl) and never looks at
/// the size and alignment after it; the caller owns the argument area and
/// cleans it up on all three.
pub unsafe fn reinterpret<F: Function + Pointer, G: Function + Pointer>(function: F) -> G {
    from_raw::<G>(into_raw(function))
}

union Bits<F: Copy> {
    value: F,
    raw: *mut (),
}

const fn into_raw<F: Pointer>(value: F) -> *mut () {
    const { assert!(size_of::<F>() == size_of::<*mut ()>()) };
    // SAFETY: `F` is a function pointer or an `Option` of one: the size of a
    // pointer (checked above), and a valid pointer value whatever it holds.
    unsafe { Bits { value }.raw }
}

#[inline(always)]
fn from_raw<F: Pointer>(raw: *mut ()) -> F {
    const { assert!(size_of::<F>() == size_of::<*mut ()>()) };
    // SAFETY: `raw` holds the bits of an `F` (see the module docs), or, for
    // `function`, an address that is either 0 (`None`) or non-null.
    unsafe { Bits { raw }.value }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Unary = unsafe extern "C" fn(usize) -> usize;

    extern "C" fn double(value: usize) -> usize {
        value * 2
    }

    extern "C" fn square(value: usize) -> usize {
        value * value
    }

    #[test]
    fn a_slot_returns_what_was_stored_last() {
        let slot: Slot<Unary> = Slot::new(double);
        // SAFETY: both functions are safe to call with any argument.
        unsafe {
            assert_eq!(slot.get()(5), 10);
            slot.set(square);
            assert_eq!(slot.get()(5), 25);
        }
    }

    #[test]
    fn an_optional_slot_starts_empty() {
        let slot: Slot<Option<Unary>> = Slot::new(None);
        assert!(slot.get().is_none());
        slot.set(Some(double));
        // SAFETY: as above.
        assert_eq!(slot.get().map(|f| unsafe { f(4) }), Some(8));
    }

    #[test]
    fn an_address_becomes_a_function_unless_it_is_zero() {
        assert!(function::<Unary>(0).is_none());
        let address = double as Unary as usize;
        let found = function::<Unary>(address).expect("non-zero");
        // SAFETY: the address of `double`, of this very signature.
        assert_eq!(unsafe { found(21) }, 42);
    }
}
