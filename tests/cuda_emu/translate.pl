#!/usr/bin/perl
# Rewrites a .cu file into C++ for the CUDA emulator (cuda_runtime.h in this folder):
#   kernel<<<grid, block[, smem[, stream]]>>>(args)  ->  ::gpt_emu::launch(kernel, grid, block...)(args)
#   extern __shared__ T name[];                       ->  T* name = (the block's dynamic shared memory)
# Line numbers are kept (no line is added or removed), so messages point into the .cu file.
# usage: translate.pl IN.cu OUT.cpp
use strict;
use warnings;
my ($in, $out) = @ARGV;
die "usage: translate.pl IN.cu OUT.cpp\n" unless defined $out;
open(my $fh, '<', $in) or die "translate.pl: cannot read $in: $!\n";
my $src = do { local $/; <$fh> };
close $fh;
my $shared = ($src =~ s/extern\s+__shared__\s+(?:alignas\(\d+\)\s+)?([\w:]+)\s+(\w+)\s*\[\s*\]\s*;/$1* $2 = static_cast<$1*>(::gpt_emu::dynamic_shared());/g);
my $launches = ($src =~ s/([\w:]+(?:<[^<>;]*>)?)\s*<<<(.*?)>>>\s*\(/::gpt_emu::launch($1, $2)(/gs);
die "translate.pl: $in: a '<<<' was left untranslated\n" if $src =~ /<<</;
open(my $oh, '>', $out) or die "translate.pl: cannot write $out: $!\n";
print $oh "#line 1 \"$in\"\n", $src;
close $oh;
