# SPDX-License-Identifier: BSD-2-Clause
#
# Sidekiq's side of redjob-bench's "sidekiq" scenario. redjob-bench starts
# this script and measures Redis (INFO cpu, commandstats, memory) around
# the section between the "go" line it writes to stdin and the "done"
# line; the script only does what a Sidekiq user would.
#
#   ruby sidekiq.rb add --socket PATH --queue Q -n N [--payload-size P]
#       [--bulk B]
#     push N jobs of the no-op job class below: one Sidekiq::Client.push
#     at a time, or Sidekiq::Client.push_bulk of B jobs; prints "ready",
#     waits for "go", pushes, prints "done".
#
#   REDIS_URL=unix://PATH sidekiq -r sidekiq.rb -q Q -c C
#     a Sidekiq server that runs them (what the scenario's "process"
#     variant starts): required by it, this file only defines the class.
#
# The job's one argument is a string of P bytes, as redjob-bench's
# payloads. Sidekiq comes from the system (Debian: ruby-sidekiq) or from
# GEM_PATH.

begin
  require 'sidekiq'
rescue LoadError => e
  $stderr.puts "sidekiq.rb: cannot load sidekiq: #{e.message}"
  exit 64
end

# redis-rb 4.8 warns on stderr about calls Sidekiq 6 makes.
Redis.silence_deprecations = true if Redis.respond_to?(:silence_deprecations=)

# The job class; only its name is pushed.
class Noop
  include Sidekiq::Worker
  def perform(_payload); end
end

return unless $PROGRAM_NAME == __FILE__

def usage(msg)
  $stderr.puts "sidekiq.rb: #{msg}"
  exit 64
end

o = { n: 0, payload: 100, bulk: 0 }
usage('the first argument is add') unless ARGV[0] == 'add'
args = ARGV.drop(1)
until args.empty?
  a = args.shift
  val = lambda do
    usage("#{a} needs a value") if args.empty?
    args.shift
  end
  num = lambda do |lo|
    s = val.call
    usage("#{a} must be an integer >= #{lo}, not \"#{s}\"") unless
      s =~ /\A\d+\z/ && s.to_i >= lo
    s.to_i
  end
  case a
  when '--socket' then o[:socket] = val.call
  when '--queue' then o[:queue] = val.call
  when '-n' then o[:n] = num.call(1)
  when '--payload-size' then o[:payload] = num.call(0)
  when '--bulk' then o[:bulk] = num.call(1)
  else usage("unknown option \"#{a}\"")
  end
end
usage('--socket and --queue are required') unless o[:socket] && o[:queue]
usage('add needs -n') if o[:n].zero?

Sidekiq.configure_client do |config|
  config.redis = { path: o[:socket] }
end

data = 'x' * o[:payload]
# The connection pool connects lazily: connect before the measurement.
Sidekiq.redis { |r| r.ping }
$stdout.sync = true
puts 'ready'
line = $stdin.gets
exit 0 if line.nil? || line.chomp != 'go'
if o[:bulk].positive?
  done = 0
  while done < o[:n]
    k = [o[:bulk], o[:n] - done].min
    Sidekiq::Client.push_bulk('class' => Noop, 'queue' => o[:queue],
                              'args' => Array.new(k) { [data] })
    done += k
  end
else
  o[:n].times do
    Sidekiq::Client.push('class' => Noop, 'queue' => o[:queue],
                         'args' => [data])
  end
end
puts 'done'
